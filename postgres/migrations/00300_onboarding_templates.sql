-- Onboarding templates: one row per version of a role's plan. Versions are
-- immutable (a change is a new row), so a running onboarding that started
-- from version N can always be explained by reading version N.

-- +goose Up
CREATE TABLE onboarding_templates (
    role        text        NOT NULL,
    version     integer     NOT NULL CHECK (version >= 1),
    title       text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    tasks       jsonb       NOT NULL,  -- []opsflow.TaskTemplate
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, version)
);

-- Versions are history: like the audit trail, they are never rewritten.
-- +goose StatementBegin
CREATE FUNCTION onboarding_templates_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'onboarding template versions are immutable; create a new version';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER onboarding_templates_immutable
    BEFORE UPDATE OR DELETE ON onboarding_templates
    FOR EACH ROW EXECUTE FUNCTION onboarding_templates_immutable();

-- +goose Down
DROP TABLE onboarding_templates;
DROP FUNCTION onboarding_templates_immutable();
