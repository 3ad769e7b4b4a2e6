// Package config reads Issuegraph's settings from the environment. Every
// setting has a development default; production mode refuses to start on a
// missing or unsafe value and names each problem at once.
//
// config.go holds Config and Load; settings.go the documented list of
// variables (the README table is printed from it); check.go the
// validation; rules.go the production rules; reader.go the parsing of
// one value.
package config
