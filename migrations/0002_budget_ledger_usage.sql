-- Budgets, the credit ledger, the request log and daily usage rollups; suspension time on
-- tenants and an update time on keys. Money is integer: cents for caps, micro-USD (1e-6 USD)
-- for costs and balances.

alter table tenant add column suspended_at timestamptz;
alter table tenant add constraint tenant_suspended_at_check
    check ((status = 'suspended') = (suspended_at is not null));

alter table api_key add column updated_at timestamptz not null default now();
alter table api_key add constraint api_key_name_check check (length(name) <= 200);
alter table api_key add constraint api_key_revoked_at_check
    check (revoked_at is null or revoked_at >= created_at);

-- A tenant's monthly cap per x-aig-tag, or '*' for all of its traffic. Published to Redis as
-- the tenant's budgets hash; the data plane enforces it.
create table budget (
    id uuid not null default gen_random_uuid(),
    tenant_id uuid not null,
    tag text not null,
    monthly_cap_cents bigint not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint budget_pkey primary key (id),
    constraint budget_tenant_id_fkey foreign key (tenant_id)
        references tenant (id) on delete cascade,
    constraint budget_tenant_id_tag_key unique (tenant_id, tag),
    -- The x-aig-tag rule (common::budget::is_valid_tag), or '*'.
    constraint budget_tag_check check (tag = '*' or tag ~ '^[A-Za-z0-9._:-]{1,64}$'),
    constraint budget_monthly_cap_cents_check check (monthly_cap_cents >= 0)
);

-- Append-only: a balance is the sum of its tenant's entries. Credits are positive, usage
-- debits negative; corrections are new entries, never updates.
create table ledger_entry (
    id uuid not null default gen_random_uuid(),
    tenant_id uuid not null,
    kind text not null,
    amount_micros bigint not null,
    reason text,
    -- Makes every write retry-safe: 'trial:<tenant>', the request id of a usage debit,
    -- the Stripe event of a top-up, an operator-chosen key for an adjustment.
    idempotency_key text not null,
    created_at timestamptz not null default now(),
    constraint ledger_entry_pkey primary key (id),
    constraint ledger_entry_tenant_id_fkey foreign key (tenant_id)
        references tenant (id) on delete cascade,
    constraint ledger_entry_idempotency_key_key unique (idempotency_key),
    constraint ledger_entry_kind_check
        check (kind in ('trial_credit', 'top_up', 'usage', 'adjustment')),
    constraint ledger_entry_amount_sign_check check (
        case kind
            when 'usage' then amount_micros < 0
            when 'adjustment' then amount_micros <> 0
            else amount_micros > 0
        end
    ),
    constraint ledger_entry_adjustment_reason_check
        check (kind <> 'adjustment' or length(btrim(coalesce(reason, ''))) > 0)
);

create index ledger_entry_tenant_id_created_at_idx on ledger_entry (tenant_id, created_at);

create function ledger_entry_forbid_change() returns trigger language plpgsql as $$
begin
    raise exception 'ledger_entry is append-only';
end;
$$;

create trigger ledger_entry_append_only
    before update or delete on ledger_entry
    for each row execute function ledger_entry_forbid_change();

-- One row per usage event the data plane emitted (common::usage::UsageEvent). Ingestion must
-- never stall on an event, so its columns check little beyond what the event type promises.
create table request_log (
    id bigint generated always as identity,
    request_id text not null,
    tenant_id uuid not null,
    -- Not a foreign key: an event is ingested whatever became of the key since.
    key_id text not null,
    tag text,
    ingress text not null,
    requested_model text not null,
    served_by text,
    chain text not null,
    status integer not null,
    stream boolean not null,
    latency_ms bigint not null,
    input_tokens bigint not null,
    cache_read_tokens bigint not null,
    cache_write_tokens bigint not null,
    output_tokens bigint not null,
    cost_micros bigint not null,
    usage_estimated boolean not null,
    client_disconnected boolean not null,
    -- When the request arrived (the event's ts_ms).
    ts timestamptz not null,
    created_at timestamptz not null default now(),
    constraint request_log_pkey primary key (id),
    constraint request_log_request_id_key unique (request_id),
    constraint request_log_tenant_id_fkey foreign key (tenant_id)
        references tenant (id) on delete cascade,
    constraint request_log_cost_micros_check check (cost_micros >= 0)
);

create index request_log_tenant_id_ts_idx on request_log (tenant_id, ts desc);

-- Per tenant, UTC day, tag ('' = untagged) and model (the slug that served, else the
-- primary): what the dashboards and GET /v1/usage read.
create table usage_daily (
    tenant_id uuid not null,
    day date not null,
    tag text not null,
    model text not null,
    requests bigint not null default 0,
    -- Requests served by another slug than the primary.
    fallbacks bigint not null default 0,
    -- Requests answered with an error status.
    errors bigint not null default 0,
    input_tokens bigint not null default 0,
    cache_read_tokens bigint not null default 0,
    cache_write_tokens bigint not null default 0,
    output_tokens bigint not null default 0,
    cost_micros bigint not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint usage_daily_pkey primary key (tenant_id, day, tag, model),
    constraint usage_daily_tenant_id_fkey foreign key (tenant_id)
        references tenant (id) on delete cascade
);
