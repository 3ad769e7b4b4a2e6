// PostGraphile 5, the peer `make bench` measures Issuegraph against, on
// Issuegraph's own database: the Amber preset with simplified inflection,
// production mode, one Node process, no row-level security (it reads every
// row; Issuegraph checks the viewer's memberships on every row).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
  pgServices: [makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] })],
  grafserv: { host: "127.0.0.1", port: Number(process.env.PORT), graphqlPath: "/graphql", watch: false, graphiql: false },
  grafast: { explain: false },
};
