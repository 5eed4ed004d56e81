/**
 * Human-readable API reference rendered on the server from the same OpenAPI document served at
 * /openapi.json. Self-contained HTML (no CDN), so it works on an offline machine too.
 */
import type { FC } from 'hono/jsx';

type Operation = {
  summary?: string;
  description?: string;
  parameters?: { name: string; in: string; required?: boolean; description?: string }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
};
type Doc = { info: { title: string; version: string; description?: string }; paths: Record<string, Record<string, Operation>> };

const OperationDoc: FC<{ path: string; method: string; op: Operation }> = ({ path, method, op }) => {
  const schema = op.requestBody?.content?.['application/json']?.schema;
  return (
    <section>
      <h2>
        <span class="m">{method.toUpperCase()}</span> <code>{path}</code>
      </h2>
      <p>{op.summary}</p>
      {op.description && <p>{op.description}</p>}
      {op.parameters?.length ? (
        <>
          <h3>Parameters</h3>
          <ul>
            {op.parameters.map((p) => (
              <li>
                <code>{p.name}</code> ({p.in}
                {p.required ? ', required' : ''}) {p.description}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {schema ? (
        <>
          <h3>Request body</h3>
          <pre>{JSON.stringify(schema, null, 2)}</pre>
        </>
      ) : null}
      <h3>Responses</h3>
      <ul>
        {Object.entries(op.responses ?? {}).map(([code, r]) => (
          <li>
            <code>{code}</code> {r.description}
          </li>
        ))}
      </ul>
    </section>
  );
};

export function renderDocs(doc: Doc) {
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
  return (
    '<!doctype html>' +
    (
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width,initial-scale=1" />
          <title>{doc.info.title} — API reference</title>
          <link rel="stylesheet" href="/assets/docs.css" />
          <link rel="icon" href="data:," />
        </head>
        <body>
          <main>
            <h1>
              {doc.info.title} <small>{doc.info.version}</small>
            </h1>
            <p>{doc.info.description ?? ''}</p>
            <p>
              Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors are always <code>{'{"error":{"code","message"}}'}</code>.
            </p>
            {ops.map((o) => (
              <OperationDoc {...o} />
            ))}
          </main>
        </body>
      </html>
    ).toString()
  );
}
