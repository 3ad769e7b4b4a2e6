package schemadiff

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
)

// Print renders schema as SDL, built-in types and directives left out.
func Print(schema *ast.Schema) []byte {
	var b bytes.Buffer
	formatter.NewFormatter(&b, formatter.WithIndent("  ")).FormatSchema(schema)
	return b.Bytes()
}

// Load parses SDL as printed by Print.
func Load(name, sdl string) (*ast.Schema, error) {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: name, Input: sdl})
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	return s, nil
}

// Breaking lists the changes from old to new that break a client written
// against old, in a stable order:
//   - a type, or a union member or an object's interface, removed;
//   - a field, argument, input field or enum value removed without having
//     been @deprecated in old;
//   - a type's kind changed; an output field's type changed other than
//     made non-null (narrowed for the client); an argument's or input
//     field's type changed other than made nullable;
//   - an argument or input field made required, or a required one added
//     (non-null with no default).
func Breaking(old, new *ast.Schema) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, name := range sortedKeys(old.Types) {
		ot := old.Types[name]
		if ot.BuiltIn {
			continue
		}
		nt, ok := new.Types[name]
		if !ok {
			add("type %s removed", name)
			continue
		}
		if ot.Kind != nt.Kind {
			add("type %s changed from %s to %s", name, ot.Kind, nt.Kind)
			continue
		}
		switch ot.Kind {
		case ast.Object, ast.Interface:
			for _, i := range ot.Interfaces {
				if !slices.Contains(nt.Interfaces, i) {
					add("%s no longer implements %s", name, i)
				}
			}
			for _, of := range ot.Fields {
				nf := nt.Fields.ForName(of.Name)
				where := name + "." + of.Name
				if nf == nil {
					if !deprecated(of.Directives) {
						add("field %s removed without being @deprecated first", where)
					}
					continue
				}
				if !outputCompatible(of.Type, nf.Type) {
					add("field %s changed type from %s to %s", where, of.Type, nf.Type)
				}
				out = append(out, inputsBreaking(where, "argument", of.Arguments, nf.Arguments)...)
			}
		case ast.InputObject:
			out = append(out, inputsBreaking(name, "input field", fieldsAsArgs(ot.Fields), fieldsAsArgs(nt.Fields))...)
		case ast.Enum:
			for _, v := range ot.EnumValues {
				if nt.EnumValues.ForName(v.Name) == nil && !deprecated(v.Directives) {
					add("enum value %s.%s removed without being @deprecated first", name, v.Name)
				}
			}
		case ast.Union:
			for _, m := range ot.Types {
				if !slices.Contains(nt.Types, m) {
					add("union %s no longer includes %s", name, m)
				}
			}
		}
	}
	return out
}

// inputsBreaking compares arguments (or input fields) of one owner.
func inputsBreaking(owner, what string, old, new ast.ArgumentDefinitionList) []string {
	var out []string
	for _, oa := range old {
		na := new.ForName(oa.Name)
		where := owner + "(" + oa.Name + ")"
		if what == "input field" {
			where = owner + "." + oa.Name
		}
		if na == nil {
			if !deprecated(oa.Directives) {
				out = append(out, fmt.Sprintf("%s %s removed without being @deprecated first", what, where))
			}
			continue
		}
		if !inputCompatible(oa.Type, na.Type) {
			out = append(out, fmt.Sprintf("%s %s changed type from %s to %s", what, where, oa.Type, na.Type))
		} else if required(na) && !required(oa) {
			out = append(out, fmt.Sprintf("%s %s made required", what, where))
		}
	}
	for _, na := range new {
		if old.ForName(na.Name) == nil && required(na) {
			out = append(out, fmt.Sprintf("required %s %s added to %s", what, na.Name, owner))
		}
	}
	return out
}

func required(a *ast.ArgumentDefinition) bool { return a.Type.NonNull && a.DefaultValue == nil }

// outputCompatible: a client reading a field of type old can read new:
// the same type, possibly made non-null at any level.
func outputCompatible(old, new *ast.Type) bool {
	if old.NonNull && !new.NonNull {
		return false
	}
	if (old.Elem == nil) != (new.Elem == nil) {
		return false
	}
	if old.Elem != nil {
		return outputCompatible(old.Elem, new.Elem)
	}
	return old.NamedType == new.NamedType
}

// inputCompatible: a client sending a value of type old can still send
// it: the same type, possibly made nullable at any level.
func inputCompatible(old, new *ast.Type) bool {
	if !old.NonNull && new.NonNull {
		return false
	}
	if (old.Elem == nil) != (new.Elem == nil) {
		return false
	}
	if old.Elem != nil {
		return inputCompatible(old.Elem, new.Elem)
	}
	return old.NamedType == new.NamedType
}

func deprecated(ds ast.DirectiveList) bool { return ds.ForName("deprecated") != nil }

func fieldsAsArgs(fs ast.FieldList) ast.ArgumentDefinitionList {
	out := make(ast.ArgumentDefinitionList, 0, len(fs))
	for _, f := range fs {
		out = append(out, &ast.ArgumentDefinition{Name: f.Name, Type: f.Type, DefaultValue: f.DefaultValue, Directives: f.Directives})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
