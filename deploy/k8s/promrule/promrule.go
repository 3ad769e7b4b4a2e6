package promrule

import (
	"bytes"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// RulesFile is the rules file, relative to deploy/k8s.
const RulesFile = "../prometheus/issuegraph-rules.yml"

// ManifestFile is the generated manifest, relative to deploy/k8s.
const ManifestFile = "base/prometheusrule.yaml"

// Manifest returns the PrometheusRule holding the groups of rules, a
// Prometheus rules file. The groups are copied node for node, comments and
// block scalars included, so the two files read alike.
func Manifest(rules []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(rules, &doc); err != nil {
		return nil, fmt.Errorf("parsing rules: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("rules file is not a mapping")
	}
	var groups *yaml.Node
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "groups" {
			groups = top.Content[i+1]
		}
	}
	if groups == nil {
		return nil, errors.New("rules file has no groups")
	}
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	mapping := func(kv ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: kv} }
	out := mapping(
		str("apiVersion"), str("monitoring.coreos.com/v1"),
		str("kind"), str("PrometheusRule"),
		str("metadata"), mapping(str("name"), str("issuegraph")),
		str("spec"), mapping(str("groups"), groups),
	)
	var buf bytes.Buffer
	buf.WriteString("# Generated from deploy/prometheus/issuegraph-rules.yml by `go generate` in\n# deploy/k8s. DO NOT EDIT: change the rules file and regenerate.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("writing PrometheusRule: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("writing PrometheusRule: %w", err)
	}
	return buf.Bytes(), nil
}
