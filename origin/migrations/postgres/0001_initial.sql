-- The whole origin schema. Times are Unix milliseconds, flags 0/1, ids time-ordered text.

CREATE TABLE tenants (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    tokens BIGINT NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    environment TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE connections (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    platform TEXT NOT NULL,
    status TEXT NOT NULL,
    store_url TEXT,
    shop_id TEXT,
    endpoint_url TEXT,
    secrets_sealed TEXT NOT NULL,
    last_event_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX connections_tenant ON connections (tenant_id, id);

CREATE TABLE events (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    platform TEXT NOT NULL,
    status TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    edge_event_id TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    stored_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    CONSTRAINT events_dedupe UNIQUE (tenant_id, dedupe_key),
    CONSTRAINT events_edge_id UNIQUE (tenant_id, edge_event_id)
);
CREATE INDEX events_tenant ON events (tenant_id, id);
CREATE INDEX events_tenant_status ON events (tenant_id, status, id);

CREATE TABLE templates (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX templates_tenant ON templates (tenant_id, id);
CREATE UNIQUE INDEX templates_one_default ON templates (tenant_id) WHERE is_default = 1;

CREATE TABLE products (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    product_type TEXT NOT NULL,
    status TEXT NOT NULL,
    template_id TEXT REFERENCES templates (id),
    low_stock_threshold BIGINT NOT NULL DEFAULT 0,
    mappings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT products_tenant_sku UNIQUE (tenant_id, sku)
);
CREATE INDEX products_tenant ON products (tenant_id, id);

CREATE TABLE product_files (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    status TEXT NOT NULL,
    size_bytes BIGINT,
    sha256 TEXT,
    storage_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    uploaded_at BIGINT
);
CREATE INDEX product_files_product ON product_files (tenant_id, product_id, id);

CREATE TABLE license_codes (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    code TEXT NOT NULL,
    status TEXT NOT NULL,
    order_item_id TEXT,
    created_at BIGINT NOT NULL,
    allocated_at BIGINT,
    CONSTRAINT license_codes_unique UNIQUE (product_id, code)
);
-- Allocation looks for the oldest available code of a product.
CREATE INDEX license_codes_available ON license_codes (product_id, id) WHERE status = 'available';
CREATE INDEX license_codes_stock ON license_codes (tenant_id, product_id, status);

CREATE TABLE orders (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    platform TEXT NOT NULL,
    platform_order_id TEXT NOT NULL,
    status TEXT NOT NULL,
    buyer_email TEXT NOT NULL,
    buyer_name TEXT,
    currency TEXT,
    total_cents BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT orders_platform_id UNIQUE (tenant_id, platform, platform_order_id)
);
-- One index per list filter, each ending in id so a page is an index range scan.
CREATE INDEX orders_tenant ON orders (tenant_id, id);
CREATE INDEX orders_tenant_status ON orders (tenant_id, status, id);
CREATE INDEX orders_tenant_platform ON orders (tenant_id, platform, id);
CREATE INDEX orders_tenant_buyer ON orders (tenant_id, buyer_email, id);
CREATE INDEX orders_tenant_created ON orders (tenant_id, created_at);

CREATE TABLE order_items (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    product_id TEXT,
    product_type TEXT,
    name TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    delivery_status TEXT NOT NULL,
    license_code TEXT,
    delivered_at BIGINT
);
CREATE INDEX order_items_order ON order_items (tenant_id, order_id, id);

CREATE TABLE order_audit (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX order_audit_order ON order_audit (tenant_id, order_id, id);
