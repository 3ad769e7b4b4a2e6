// Issuegraph's GraphiQL: GraphiQL with a sign-in bar. The token it gets is
// put in GraphiQL's Headers tab as {"Authorization": "Bearer ..."}, which
// is sent with every query over HTTP and, for subscriptions, in the
// graphql-transport-ws connection_init payload. Bundled by build.mjs into
// ../dist, which the server embeds; nothing is loaded from elsewhere.
import React, { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';
import './app.css';

const api = new URL('/graphql', window.location.href);
const ws = new URL(api);
ws.protocol = api.protocol === 'https:' ? 'wss:' : 'ws:';
const fetcher = createGraphiQLFetcher({ url: api.href, subscriptionUrl: ws.href });

const defaultQuery = `# Sign in above (the demo account is filled in), or put
# {"Authorization": "Bearer <token>"} in the Headers tab below.

query Board {
  project(organization: "acme", key: "ENG") {
    id
    issues(first: 5) {
      totalCount
      edges { node { key title status assignee { name } } }
    }
  }
}

# Run it, then start this one and change an issue in another tab:
# subscription Live($project: ID!) {
#   projectEvents(projectId: $project) { cursor type issue { key title status } }
# }
`;

async function logIn(email, password) {
  const res = await fetch(api, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: LogInInput!) { logIn(input: $input) { tokens { accessToken } userErrors { message } } }',
      variables: { input: { email, password } },
    }),
  });
  const body = await res.json();
  const payload = body.data && body.data.logIn;
  if (payload && payload.tokens) return payload.tokens.accessToken;
  const errors = (payload && payload.userErrors) || body.errors || [];
  throw new Error(errors.map((e) => e.message).join('; ') || `sign-in failed (HTTP ${res.status})`);
}

function App() {
  const [email, setEmail] = useState('ada@example.com');
  const [password, setPassword] = useState('issuegraph-demo');
  const [token, setToken] = useState('');
  const [status, setStatus] = useState({ text: 'Not signed in: anonymous requests see no private data.', error: false });

  const onSubmit = async (e) => {
    e.preventDefault();
    setStatus({ text: 'Signing in…', error: false });
    try {
      const t = await logIn(email, password);
      setToken(t);
      setStatus({ text: `Signed in as ${email}; the token is in the Headers tab (it expires in 15 minutes).`, error: false });
    } catch (err) {
      setStatus({ text: err.message, error: true });
    }
  };

  return (
    <>
      <form className="ig-bar" onSubmit={onSubmit}>
        <strong>Issuegraph</strong>
        <input aria-label="email" value={email} onChange={(e) => setEmail(e.target.value)} />
        <input aria-label="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit">Sign in</button>
        <span className={status.error ? 'ig-error' : 'ig-status'}>{status.text}</span>
      </form>
      <div className="ig-main">
        {/* A new token remounts GraphiQL with it in the Headers tab; the
            editors' text is kept in localStorage across the remount. */}
        <GraphiQL
          key={token}
          fetcher={fetcher}
          defaultQuery={defaultQuery}
          headers={token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : undefined}
          defaultEditorToolsVisibility={token ? 'headers' : false}
        />
      </div>
    </>
  );
}

createRoot(document.getElementById('graphiql')).render(<App />);
