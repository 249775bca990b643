-- What an application's own clients may change about the tenant's users.
-- The spec's `[appId]:edit` lets any application edit any user of the
-- tenant; an operator can narrow that per application. The defaults are
-- the spec's.
ALTER TABLE applications
    ADD COLUMN clients_edit_profiles      boolean NOT NULL DEFAULT true,
    ADD COLUMN clients_change_identifiers boolean NOT NULL DEFAULT true,
    ADD COLUMN clients_change_status      boolean NOT NULL DEFAULT true;
