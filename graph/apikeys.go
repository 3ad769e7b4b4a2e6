package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/issuegraph/issuegraph/ent/ent"
	"github.com/issuegraph/issuegraph/ent/ent/apikey"
	"github.com/issuegraph/issuegraph/ent/ent/membership"
	"github.com/issuegraph/issuegraph/ent/ent/predicate"
	"github.com/issuegraph/issuegraph/ent/rule"
	"github.com/issuegraph/issuegraph/graph/model"
	"github.com/issuegraph/issuegraph/loaders"
)

// Event types of API keys.
const (
	EventAPIKeyCreated = "api_key.created"
	EventAPIKeyRevoked = "api_key.revoked"
)

var apiKeysByCreated = sortKey{name: "created", column: apikey.FieldCreatedAt, kind: kindTime}

// apiKeys pages through an organization's keys; the keys of every
// organization of a level load in one statement, like the other lists.
func (r *Resolver) apiKeys(ctx context.Context, org *ent.Organization, args pageArgs) (*model.Connection[*ent.APIKey], error) {
	return loadPage(ctx, r, r.apiKeysOfOrganizations(), org.ID, args)
}

func (r *Resolver) apiKeysOfOrganizations() childList[*ent.APIKeyQuery, *ent.APIKey, predicate.APIKey, *ent.APIKeySelect] {
	return childList[*ent.APIKeyQuery, *ent.APIKey, predicate.APIKey, *ent.APIKeySelect]{
		name: "Organization.apiKeys", query: r.client.APIKey.Query, parent: loaders.ByColumn(apikey.FieldOrganizationID),
		parentOf: func(k *ent.APIKey) int64 { return k.OrganizationID },
		key:      apiKeysByCreated, keyOf: func(k *ent.APIKey) (any, int64) { return k.CreatedAt, k.ID },
	}
}

func (r *mutationResolver) createAPIKey(ctx context.Context, input model.CreateAPIKeyInput) (*model.CreateAPIKeyPayload, error) {
	uid, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	var check inputCheck
	orgID := check.id(input.OrganizationID, typeOrganization, "input", "organizationId")
	name := check.text(input.Name, 1, 100, "input", "name")
	role := membership.RoleVIEWER
	if input.Role != nil {
		role = *input.Role
	}
	if role == membership.RoleOWNER {
		check.add(model.UserErrorCodeInvalid, "an API key's role is ADMIN, MEMBER or VIEWER", "input", "role")
	}
	if input.ExpiresAt != nil && !input.ExpiresAt.After(time.Now()) {
		check.add(model.UserErrorCodeInvalid, "expiresAt must be in the future", "input", "expiresAt")
	}
	if check.failed() {
		return &model.CreateAPIKeyPayload{UserErrors: check.errs}, nil
	}
	secret, prefix, hash, err := r.sessions.NewAPIKey()
	if err != nil {
		return nil, err
	}
	var k *ent.APIKey
	err = r.mutate(ctx, &check, func(tx *ent.Tx) error {
		if err := checkOrganization(ctx, tx, &check, orgID); err != nil {
			return err
		}
		if err := rule.Require(ctx, tx.Client(), orgID, membership.RoleADMIN); err != nil {
			return err
		}
		c := tx.APIKey.Create().SetOrganizationID(orgID).SetName(name).SetPrefix(prefix).SetKeyHash(hash).
			SetRole(apikey.Role(role)).SetCreatedByID(uid)
		if input.ExpiresAt != nil {
			c.SetExpiresAt(*input.ExpiresAt)
		}
		if k, err = c.Save(ctx); err != nil {
			return fmt.Errorf("creating API key: %w", err)
		}
		return record(ctx, tx, event{typ: EventAPIKeyCreated, organizationID: orgID, subjectID: k.ID,
			payload: map[string]any{"name": name, "role": role}})
	})
	if err != nil || check.failed() {
		return &model.CreateAPIKeyPayload{UserErrors: check.errs}, err
	}
	return &model.CreateAPIKeyPayload{APIKey: k, Secret: &secret, UserErrors: []*model.UserError{}}, nil
}

func (r *mutationResolver) revokeAPIKey(ctx context.Context, input model.RevokeAPIKeyInput) (*model.RevokeAPIKeyPayload, error) {
	if err := requireActor(ctx); err != nil {
		return nil, err
	}
	var check inputCheck
	id := check.id(input.ID, typeAPIKey, "input", "id")
	if check.failed() {
		return &model.RevokeAPIKeyPayload{UserErrors: check.errs}, nil
	}
	var k *ent.APIKey
	err := r.mutate(ctx, &check, func(tx *ent.Tx) error {
		old, err := tx.APIKey.Get(ctx, id)
		if ent.IsNotFound(err) {
			check.notFound("API key", "input", "id")
			return errRejected
		}
		if err != nil {
			return fmt.Errorf("loading API key: %w", err)
		}
		if old.RevokedAt != nil {
			check.add(model.UserErrorCodeNotAllowed, "API key is already revoked", "input", "id")
			return errRejected
		}
		if k, err = tx.APIKey.UpdateOne(old).SetRevokedAt(time.Now()).Save(ctx); err != nil {
			return fmt.Errorf("revoking API key: %w", err)
		}
		return record(ctx, tx, event{typ: EventAPIKeyRevoked, organizationID: k.OrganizationID, subjectID: k.ID})
	})
	if err != nil || check.failed() {
		return &model.RevokeAPIKeyPayload{UserErrors: check.errs}, err
	}
	return &model.RevokeAPIKeyPayload{APIKey: k, UserErrors: []*model.UserError{}}, nil
}

// apiKeyCreator returns who created k, null when unknown or not visible.
func (r *Resolver) apiKeyCreator(ctx context.Context, k *ent.APIKey) (*ent.User, error) {
	if k.CreatedByID == nil {
		return nil, nil
	}
	return orNil(r.client.User.Get(ctx, *k.CreatedByID))
}
