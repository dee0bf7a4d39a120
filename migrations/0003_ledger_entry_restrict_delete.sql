-- The ledger is append-only (a trigger refuses updates and deletes), so a tenant with ledger
-- entries cannot be deleted either: say so in the foreign key instead of cascading into the
-- trigger's error.
alter table ledger_entry drop constraint ledger_entry_tenant_id_fkey;
alter table ledger_entry add constraint ledger_entry_tenant_id_fkey
    foreign key (tenant_id) references tenant (id) on delete restrict;
