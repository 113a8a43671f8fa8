-- API keys (digests only) and the audit log.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'restricted')),
    environment TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    prefix TEXT NOT NULL,
    last_four TEXT NOT NULL,
    key_digest TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    rate_limit_per_minute INTEGER,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    rolled_from TEXT
);
CREATE INDEX api_keys_organization_id ON api_keys (organization_id, created_at);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    target TEXT,
    details TEXT NOT NULL,
    request_id TEXT,
    ip TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_organization_time ON audit_events (organization_id, created_at);
