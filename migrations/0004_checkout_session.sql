-- Every Stripe Checkout Session the control plane created, with what it promised: the credit
-- the tenant typed, the platform fee added on top, and the total Stripe must report paid.
-- The webhook credits `credit_cents` of the stored row, and only when the paid session's
-- tenant, currency and total match it. Money in integer cents.
create table checkout_session (
    -- Stripe's id (cs_…).
    id text not null,
    tenant_id uuid not null,
    credit_cents bigint not null,
    fee_cents bigint not null,
    amount_total_cents bigint not null,
    currency text not null,
    status text not null default 'created',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint checkout_session_pkey primary key (id),
    -- Kept with the ledger: a tenant that paid is not deleted (ledger_entry restricts too).
    constraint checkout_session_tenant_id_fkey foreign key (tenant_id)
        references tenant (id) on delete restrict,
    constraint checkout_session_id_check check (length(id) between 1 and 255),
    constraint checkout_session_credit_cents_check check (credit_cents > 0),
    constraint checkout_session_fee_cents_check check (fee_cents >= 0),
    constraint checkout_session_amount_total_cents_check
        check (amount_total_cents = credit_cents + fee_cents),
    constraint checkout_session_currency_check check (currency = 'usd'),
    constraint checkout_session_status_check check (status in ('created', 'completed'))
);

create index checkout_session_tenant_id_created_at_idx
    on checkout_session (tenant_id, created_at desc);
