-- Invitations to join a tenant: an owner invites an email with a role; the one-time link
-- carries a random token stored here only as its SHA-256. Accepting creates the user and
-- marks the invitation used in the same transaction.

create table invitation (
    id uuid not null default gen_random_uuid(),
    tenant_id uuid not null,
    email text not null,
    role text not null,
    -- SHA-256 of the token in the link, lowercase hex; the token itself is shown once.
    token_hash text not null,
    -- Who invited; kept as null if that person is later removed from the tenant.
    invited_by uuid,
    expires_at timestamptz not null,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint invitation_pkey primary key (id),
    constraint invitation_tenant_id_fkey foreign key (tenant_id)
        references tenant (id) on delete cascade,
    constraint invitation_invited_by_fkey foreign key (invited_by)
        references app_user (id) on delete set null,
    constraint invitation_token_hash_key unique (token_hash),
    constraint invitation_token_hash_check check (token_hash ~ '^[0-9a-f]{64}$'),
    constraint invitation_role_check check (role in ('owner', 'member')),
    constraint invitation_email_check check (length(btrim(email)) between 3 and 254),
    constraint invitation_used_or_revoked_check check (used_at is null or revoked_at is null)
);

create index invitation_tenant_id_idx on invitation (tenant_id);
