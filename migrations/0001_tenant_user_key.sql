-- The starting schema: tenants, the people who sign in to them, and their API keys.
-- Later migrations add budgets, the credit ledger, the request log and rollups.

create table tenant (
    id uuid not null default gen_random_uuid(),
    name text not null,
    status text not null default 'active',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint tenant_pkey primary key (id),
    constraint tenant_name_check check (length(btrim(name)) > 0),
    constraint tenant_status_check check (status in ('active', 'suspended'))
);

create table app_user (
    id uuid not null default gen_random_uuid(),
    tenant_id uuid not null,
    email text not null,
    -- argon2id PHC string; never a plain password.
    password_hash text not null,
    role text not null default 'member',
    is_platform_admin boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint app_user_pkey primary key (id),
    constraint app_user_tenant_id_fkey foreign key (tenant_id)
        references tenant (id) on delete cascade,
    constraint app_user_role_check check (role in ('owner', 'member'))
);

-- Emails are unique whatever their case; sign-up maps this index's violation to a 409.
create unique index app_user_email_lower_key on app_user (lower(email));
create index app_user_tenant_id_idx on app_user (tenant_id);

create table api_key (
    id uuid not null default gen_random_uuid(),
    tenant_id uuid not null,
    name text not null,
    -- SHA-256 of the full sk-aig- key, lowercase hex; the key itself is shown once and never stored.
    key_hash text not null,
    -- The first characters of the key, for people to tell their keys apart.
    display_prefix text not null,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz,
    constraint api_key_pkey primary key (id),
    constraint api_key_tenant_id_fkey foreign key (tenant_id)
        references tenant (id) on delete cascade,
    constraint api_key_key_hash_key unique (key_hash),
    constraint api_key_key_hash_check check (key_hash ~ '^[0-9a-f]{64}$')
);

create index api_key_tenant_id_idx on api_key (tenant_id);
