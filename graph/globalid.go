package graph

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Type names that appear in global IDs.
const (
	typeUser         = "User"
	typeOrganization = "Organization"
	typeMembership   = "Membership"
	typeProject      = "Project"
	typeIssue        = "Issue"
	typeComment      = "Comment"
	typeLabel        = "Label"
	typeAPIKey       = "APIKey"
	typeInvitation   = "Invitation"
)

// globalID returns the opaque global ID of the object of type typ with
// database id id: base64url of "Type:id". Clients must treat it as opaque.
func globalID(typ string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + strconv.FormatInt(id, 10)))
}

// parseGlobalID splits a global ID into its type and database id. ok is
// false for anything that is not an ID this server issued.
func parseGlobalID(gid string) (typ string, id int64, ok bool) {
	if len(gid) == 0 || len(gid) > 64 {
		return "", 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(gid)
	if err != nil {
		return "", 0, false
	}
	typ, num, found := strings.Cut(string(raw), ":")
	if !found {
		return "", 0, false
	}
	id, err = strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 {
		return "", 0, false
	}
	switch typ {
	case typeUser, typeOrganization, typeMembership, typeProject, typeIssue, typeComment, typeLabel, typeAPIKey, typeInvitation:
		return typ, id, true
	}
	return "", 0, false
}

// idOf parses a global ID that must be of type want.
func idOf(gid, want string) (int64, bool) {
	typ, id, ok := parseGlobalID(gid)
	if !ok || typ != want {
		return 0, false
	}
	return id, true
}
