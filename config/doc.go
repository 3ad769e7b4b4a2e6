// Package config reads Issuegraph's settings from the environment. Every
// setting has a development default; production mode refuses to start on a
// missing or unsafe value and names each problem at once.
package config
