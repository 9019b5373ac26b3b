-- Read model for "my polycules": who belongs where, and each polycule's name as stored
-- (sealed under the polycule's key; opened only when shown to a member).
CREATE TABLE polycule_directory (
    polycule_id  uuid        PRIMARY KEY,
    sealed_name  jsonb       NOT NULL,
    founded_at   timestamptz NOT NULL
);

CREATE TABLE memberships (
    polycule_id  uuid        NOT NULL,
    member_id    uuid        NOT NULL,
    joined_at    timestamptz NOT NULL,
    left_at      timestamptz,
    PRIMARY KEY (polycule_id, member_id)
);

-- "My polycules": a member's current memberships.
CREATE INDEX memberships_of_member ON memberships (member_id) WHERE left_at IS NULL;
