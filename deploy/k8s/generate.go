package k8s

//go:generate go run ./promrule/gen
