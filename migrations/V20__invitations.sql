-- Invitations (createMember's `send_invite`) and the outbox that mails
-- them. The accept link's secret is minted when its mail is about to be
-- sent and only its SHA-256 digest is kept: NULL until then, and again
-- from a resend until the next mail (the old link stops at once). An invitation belongs to its membership and to its
-- organization's application: losing either ends it.

CREATE TABLE invitations (
    tenant_id        text        NOT NULL,
    invitation_id    text        NOT NULL,
    organization_id  text        NOT NULL,
    user_id          text        NOT NULL,
    app_id           text        NOT NULL,
    email            text        NOT NULL,
    token_hash       bytea,
    created_at       timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    expires_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    sends            integer     NOT NULL DEFAULT 0,
    accepted_at      timestamptz,
    revoked_at       timestamptz,
    PRIMARY KEY (tenant_id, invitation_id),
    FOREIGN KEY (tenant_id, organization_id, user_id)
        REFERENCES organization_members (tenant_id, organization_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, organization_id, app_id)
        REFERENCES organization_apps (tenant_id, organization_id, app_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX invitations_token_idx ON invitations (tenant_id, token_hash)
    WHERE token_hash IS NOT NULL;
CREATE INDEX invitations_organization_idx
    ON invitations (tenant_id, organization_id, created_at DESC, invitation_id);
CREATE INDEX invitations_member_idx ON invitations (tenant_id, organization_id, user_id);
CREATE INDEX invitations_app_idx ON invitations (tenant_id, organization_id, app_id);

-- A mail to send, written in the transaction that makes it due. A worker
-- on each replica claims one at a time with FOR UPDATE SKIP LOCKED and
-- leases it (next_attempt_at moves past any send), so two replicas never
-- send the same mail; a failed send is retried with a growing delay until
-- its invitation ends.
CREATE TABLE mail_outbox (
    tenant_id        text        NOT NULL,
    mail_id          text        NOT NULL,
    invitation_id    text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    PRIMARY KEY (tenant_id, mail_id),
    FOREIGN KEY (tenant_id, invitation_id)
        REFERENCES invitations (tenant_id, invitation_id) ON DELETE CASCADE
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);
CREATE INDEX mail_outbox_invitation_idx ON mail_outbox (tenant_id, invitation_id);

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE mail_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
ALTER TABLE mail_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (tenant_id = current_setting('idstore.tenant_id', true));
CREATE POLICY tenant_isolation ON mail_outbox
    USING (tenant_id = current_setting('idstore.tenant_id', true));
-- The worker finds due mail across tenants and locks it (FOR UPDATE needs
-- an UPDATE policy) before it knows whose it is; it may change nothing
-- that way (WITH CHECK false): it writes, and reads the rest, as the
-- mail's tenant.
CREATE POLICY service_drain ON mail_outbox FOR SELECT
    USING (current_setting('idstore.all_tenants', true) = 'on' AND next_attempt_at <= now());
CREATE POLICY service_drain_lock ON mail_outbox FOR UPDATE
    USING (current_setting('idstore.all_tenants', true) = 'on' AND next_attempt_at <= now())
    WITH CHECK (false);
