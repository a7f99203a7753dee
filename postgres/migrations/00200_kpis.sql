-- The KPI registry: definitions and measurements. A KPI is keyed by its
-- human-readable key; what later issues add (targets, RAG thresholds,
-- control limits, breach policies) goes in tables of their own that
-- reference kpis(key), with an effective date, so this table never needs
-- reshaping and history stays readable.

-- +goose Up
CREATE TABLE kpis (
    key         text        PRIMARY KEY,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    unit        text        NOT NULL,
    direction   text        NOT NULL CHECK (direction IN ('higher', 'lower')),
    owner_id    text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Measurements are keyed by (kpi, id): a client that sends the same ID (or
-- the same Idempotency-Key) again adds nothing. They are append-only: a
-- result computed from a window must stay reproducible, so a correction is
-- a new measurement, never an edit.
CREATE TABLE kpi_measurements (
    kpi_key     text             NOT NULL REFERENCES kpis (key),
    id          text             NOT NULL,
    value       double precision NOT NULL,
    at          timestamptz      NOT NULL,
    source      text             NOT NULL DEFAULT '',
    recorded_by text             NOT NULL,
    recorded_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (kpi_key, id)
);

-- Windows and pages read measurements in time order.
CREATE INDEX kpi_measurements_at ON kpi_measurements (kpi_key, at, id);

-- +goose StatementBegin
CREATE FUNCTION kpi_measurements_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'kpi_measurements is append-only';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER kpi_measurements_append_only
    BEFORE UPDATE OR DELETE ON kpi_measurements
    FOR EACH ROW EXECUTE FUNCTION kpi_measurements_append_only();

-- +goose Down
DROP TABLE kpi_measurements;
DROP FUNCTION kpi_measurements_append_only();
DROP TABLE kpis;
