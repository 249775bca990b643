-- Deleting a user removes the delegation of every dependent naming it as
-- its actor (`delegated_access.actor_id`); this finds them without a scan.
CREATE INDEX users_delegated_actor_idx
    ON users (tenant_id, (delegated_access ->> 'actor_id'))
    WHERE delegated_access IS NOT NULL;
