// Runs the graphql-http audit of the GraphQL-over-HTTP spec against a
// running server and prints one JSON array of results
// ([{id, name, status, reason}]) for a Go test to judge.
//
//   node deploy/dev/js/audit.mjs http://127.0.0.1:8080/graphql
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
	console.error('usage: node audit.mjs URL');
	process.exit(2);
}
const results = await auditServer({ url });
console.log(JSON.stringify(results.map(({ id, name, status, reason }) => ({ id, name, status, reason }))));
