package persisted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/persistedoperation"
	"github.com/issuegraph/issuegraph/ent/viewer"
)

// Operation is one entry of a manifest.
type Operation struct {
	Hash     string // lowercase hex SHA-256 of Document
	Document string
	Name     string // operation name, when the manifest gives one
}

// Hash returns the lowercase hex SHA-256 of a document, the id clients send.
func Hash(document string) string {
	sum := sha256.Sum256([]byte(document))
	return hex.EncodeToString(sum[:])
}

// ParseManifest reads an Apollo persisted-query manifest
// ({"format": "apollo-persisted-query-manifest", "operations": [{"id", "body", "name"}]})
// or a plain {"<sha256>": "<document>"} map. Every hash must be the SHA-256 of
// its document, so no entry can make a hash stand for another document.
func ParseManifest(data []byte) ([]Operation, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("manifest is not a JSON object: %w", err)
	}
	var ops []Operation
	if _, ok := probe["operations"]; ok {
		var apollo struct {
			Format     string `json:"format"`
			Version    int    `json:"version"`
			Operations []struct {
				ID   string `json:"id"`
				Body string `json:"body"`
				Name string `json:"name"`
			} `json:"operations"`
		}
		if err := json.Unmarshal(data, &apollo); err != nil {
			return nil, fmt.Errorf("reading Apollo manifest: %w", err)
		}
		if apollo.Format != "apollo-persisted-query-manifest" || apollo.Version != 1 {
			return nil, fmt.Errorf("unsupported manifest format %q version %d (want apollo-persisted-query-manifest 1)", apollo.Format, apollo.Version)
		}
		for _, o := range apollo.Operations {
			ops = append(ops, Operation{Hash: strings.ToLower(o.ID), Document: o.Body, Name: o.Name})
		}
	} else {
		var plain map[string]string
		if err := json.Unmarshal(data, &plain); err != nil {
			return nil, fmt.Errorf("reading {hash: document} manifest: %w", err)
		}
		for hash, doc := range plain {
			ops = append(ops, Operation{Hash: strings.ToLower(strings.TrimPrefix(hash, "sha256:")), Document: doc})
		}
		sort.Slice(ops, func(i, j int) bool { return ops[i].Hash < ops[j].Hash })
	}
	if len(ops) == 0 {
		return nil, errors.New("manifest holds no operations")
	}
	for _, o := range ops {
		if o.Document == "" {
			return nil, fmt.Errorf("operation %s has no document", o.Hash)
		}
		if Hash(o.Document) != o.Hash {
			return nil, fmt.Errorf("operation %q: id %s is not the SHA-256 of its document (%s)", o.Name, o.Hash, Hash(o.Document))
		}
	}
	return ops, nil
}

// Validate checks every operation against schema, so a manifest built
// against another version of the API is refused at import, not at run time.
func Validate(schema *ast.Schema, ops []Operation) error {
	for _, o := range ops {
		if _, errs := gqlparser.LoadQuery(schema, o.Document); len(errs) > 0 {
			return fmt.Errorf("operation %s (%s) does not validate: %s", o.Hash, o.Name, errs.Error())
		}
	}
	return nil
}

// Import stores ops as the trusted documents of client, in one transaction.
// Operations already registered by that client are left as they are, so
// importing a manifest again is harmless. It returns how many were new.
func Import(ctx context.Context, client *ent.Client, clientName string, ops []Operation) (int, error) {
	if clientName == "" {
		return 0, errors.New("a client name is required (--client ios)")
	}
	ctx = viewer.SystemContext(ctx)
	tx, err := client.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("importing: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	added := 0
	for _, o := range ops {
		exists, err := tx.PersistedOperation.Query().
			Where(persistedoperation.Hash(o.Hash), persistedoperation.ClientName(clientName)).Exist(ctx)
		if err != nil {
			return 0, fmt.Errorf("importing %s: %w", o.Hash, err)
		}
		if exists {
			continue
		}
		create := tx.PersistedOperation.Create().SetHash(o.Hash).SetDocument(o.Document).SetClientName(clientName)
		if o.Name != "" {
			create.SetOperationName(o.Name)
		}
		if err := create.Exec(ctx); err != nil {
			return 0, fmt.Errorf("importing %s: %w", o.Hash, err)
		}
		added++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("importing: %w", err)
	}
	return added, nil
}

// Trusted looks trusted documents up by hash, caching the ones found in
// process. Documents are immutable (a hash names one text forever), so a
// cached entry never goes stale; an unknown hash is asked of PostgreSQL each
// time, so a newly imported manifest is served at once by every instance.
type Trusted struct {
	client *ent.Client
	cache  *lru.Cache[string, string]
}

// NewTrusted returns a lookup over client caching up to size documents.
func NewTrusted(client *ent.Client, size int) *Trusted {
	cache, err := lru.New[string, string](max(size, 1))
	if err != nil {
		panic(fmt.Sprintf("persisted: new LRU: %v", err)) // unreachable: size is positive
	}
	return &Trusted{client: client, cache: cache}
}

// Get returns the trusted document with hash; ok is false when there is none.
func (t *Trusted) Get(ctx context.Context, hash string) (doc string, ok bool, err error) {
	if doc, ok := t.cache.Get(hash); ok {
		return doc, true, nil
	}
	if !validHash(hash) {
		return "", false, nil
	}
	op, err := t.client.PersistedOperation.Query().
		Where(persistedoperation.Hash(hash)).First(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("looking up trusted document: %w", err)
	}
	t.cache.Add(hash, op.Document)
	return op.Document, true, nil
}

// validHash reports whether s can be a lowercase hex SHA-256, so anything
// else is a miss without a query.
func validHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
