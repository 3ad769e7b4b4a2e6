"""The three bench shapes, written for Issuegraph and for the peer
(PostGraphile 5, Amber preset, simplified inflection), and what both answers
must agree on.

  python3 shapes.py query SHAPE ours|peer   prints the request body (JSON)
  python3 shapes.py digest SHAPE ours|peer  reads a response on stdin and
      prints "<objects> <sha256>" of its data in one canonical form, so the
      two servers' answers can be compared object for object.
"""
import hashlib
import json
import sys
from datetime import datetime

ORG, PROJECT = "scale", "PA"

OURS = {
    "board": '{ project(organization: "%s", key: "%s") { issues(first: 20) { totalCount edges { node { key title priority assignee { name } labels { edges { node { name color } } } comments { totalCount } } } } } }' % (ORG, PROJECT),
    "issue": '{ issue(key: "%s-1", organization: "%s") { key title body author { name } labels { edges { node { name } } } comments(first: 20) { totalCount edges { node { body createdAt author { name } } } } } }' % (PROJECT, ORG),
    "deep": '{ organization(slug: "%s") { projects(first: 10) { edges { node { key issues(first: 20) { edges { node { key title assignee { name } comments(first: 5) { edges { node { body author { name } } } } } } } } } } } }' % ORG,
}

# The peer has no lookup by slug or key (unique indexes, not constraints):
# conditions with first: 1 instead, and explicit orders matching ours.
PEER = {
    "board": '{ organizations(condition: {slug: "%s"}, first: 1) { nodes { projects(condition: {key: "%s"}, first: 1) { nodes { key issues(first: 20, orderBy: [UPDATED_AT_DESC, ROW_ID_DESC]) { totalCount edges { node { number title priority assignee { name } issueLabels { nodes { label { name color } } } comments { totalCount } } } } } } } } }' % (ORG, PROJECT),
    "issue": '{ organizations(condition: {slug: "%s"}, first: 1) { nodes { projects(condition: {key: "%s"}, first: 1) { nodes { key issues(condition: {number: \"1\"}, first: 1) { nodes { number title body author { name } issueLabels { nodes { label { name } } } comments(first: 20, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) { totalCount edges { node { body createdAt author { name } } } } } } } } } } }' % (ORG, PROJECT),
    "deep": '{ organizations(condition: {slug: "%s"}, first: 1) { nodes { projects(first: 10, orderBy: [KEY_ASC, ROW_ID_ASC]) { edges { node { key issues(first: 20, orderBy: [UPDATED_AT_DESC, ROW_ID_DESC]) { edges { node { number title assignee { name } comments(first: 5, orderBy: [CREATED_AT_ASC, ROW_ID_ASC]) { edges { node { body author { name } } } } } } } } } } } } }' % ORG,
}


def name(o):
    return o["name"] if o else None


def instant(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def edges(conn):
    return [e["node"] for e in conn["edges"]]


def canonical(shape, flavor, data):
    """Returns (objects, canonical value) of one answer."""
    if flavor == "peer":
        project = data["organizations"]["nodes"][0]["projects"]
    if shape == "board":
        if flavor == "ours":
            conn = data["project"]["issues"]
            rows = [(i["key"], i["title"], i["priority"], name(i["assignee"]),
                     sorted((l["name"], l["color"]) for l in edges(i["labels"])), i["comments"]["totalCount"])
                    for i in edges(conn)]
        else:
            p = project["nodes"][0]
            conn = p["issues"]
            rows = [("%s-%d" % (p["key"], int(i["number"])), i["title"], i["priority"], name(i["assignee"]),
                     sorted((n["label"]["name"], n["label"]["color"]) for n in i["issueLabels"]["nodes"]),
                     i["comments"]["totalCount"])
                    for i in edges(conn)]
        objects = len(rows) + sum(len(r[4]) + (r[3] is not None) for r in rows)
        return objects, [conn["totalCount"], rows]
    if shape == "issue":
        if flavor == "ours":
            i = data["issue"]
            key, labels = i["key"], sorted(l["name"] for l in edges(i["labels"]))
        else:
            p = project["nodes"][0]
            i = p["issues"]["nodes"][0]
            key, labels = "%s-%d" % (p["key"], int(i["number"])), sorted(n["label"]["name"] for n in i["issueLabels"]["nodes"])
        comments = [(c["body"], instant(c["createdAt"]), name(c["author"])) for c in edges(i["comments"])]
        objects = 2 + len(labels) + 2 * len(comments)
        return objects, [key, i["title"], i["body"], name(i["author"]), labels, i["comments"]["totalCount"], comments]
    if shape == "deep":
        out = []
        projects = edges(data["organization"]["projects"]) if flavor == "ours" else edges(project)
        for p in projects:
            issues = []
            for i in edges(p["issues"]):
                key = i["key"] if flavor == "ours" else "%s-%d" % (p["key"], int(i["number"]))
                comments = [(c["body"], name(c["author"])) for c in edges(i["comments"])]
                issues.append((key, i["title"], name(i["assignee"]), comments))
            out.append((p["key"], issues))
        objects = sum(1 + sum(1 + (i[2] is not None) + 2 * len(i[3]) for i in issues) for _, issues in out)
        return objects, out
    raise SystemExit("unknown shape " + shape)


def main():
    verb, shape, flavor = sys.argv[1:4]
    if verb == "query":
        print(json.dumps({"query": (OURS if flavor == "ours" else PEER)[shape]}))
        return
    resp = json.load(sys.stdin)
    if resp.get("errors") or not resp.get("data"):
        raise SystemExit("%s %s answered errors: %s" % (flavor, shape, json.dumps(resp)[:300]))
    objects, value = canonical(shape, flavor, resp["data"])
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
    print(objects, digest)


if __name__ == "__main__":
    main()
