package main

import (
	"fmt"
	"os"

	"github.com/issuegraph/issuegraph/deploy/k8s/promrule"
)

func main() {
	rules, err := os.ReadFile(promrule.RulesFile)
	if err == nil {
		var out []byte
		if out, err = promrule.Manifest(rules); err == nil {
			err = os.WriteFile(promrule.ManifestFile, out, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "promrule:", err)
		os.Exit(1)
	}
}
