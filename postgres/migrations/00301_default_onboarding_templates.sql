-- The default templates opsflow ships with: an office role and a
-- warehouse/operations role. Offsets are days from the start date
-- (negative = pre-boarding). They carry no provisioning webhooks: the
-- systems to call differ per company, so a customer adds them in a new
-- version (POST /v1/onboarding-templates).

-- +goose Up
INSERT INTO onboarding_templates (role, version, title, description, tasks, created_by) VALUES
('office', 1, 'Office role', 'Default onboarding for office and knowledge-work roles.', '[
  {"id": "contract", "title": "Collect the signed contract and tax forms", "owner_type": "hire", "begin_offset_days": -14, "due_offset_days": -7, "weight": 2, "required_for_day1": true},
  {"id": "background-check", "title": "Complete the background check", "owner_type": "hr", "begin_offset_days": -14, "due_offset_days": -5, "weight": 2, "required_for_day1": true},
  {"id": "accounts", "title": "Create directory, e-mail and chat accounts", "owner_type": "it", "begin_offset_days": -7, "due_offset_days": -2, "depends_on": ["contract"], "weight": 2, "required_for_day1": true},
  {"id": "laptop", "title": "Prepare and ship the laptop", "owner_type": "it", "begin_offset_days": -10, "due_offset_days": -1, "weight": 2, "required_for_day1": true},
  {"id": "desk", "title": "Assign a desk and a badge", "owner_type": "facilities", "begin_offset_days": -5, "due_offset_days": -1, "weight": 1, "required_for_day1": true},
  {"id": "welcome", "title": "Send the first-week agenda", "owner_type": "manager", "begin_offset_days": -5, "due_offset_days": -1, "weight": 1},
  {"id": "buddy-lunch", "title": "Buddy lunch", "owner_type": "mentor", "begin_offset_days": 0, "due_offset_days": 2, "weight": 1, "optional": true},
  {"id": "policies", "title": "Acknowledge the code of conduct and security policy", "owner_type": "hire", "begin_offset_days": 0, "due_offset_days": 5, "depends_on": ["accounts"], "weight": 1},
  {"id": "goals", "title": "Agree on 30/60/90-day goals", "owner_type": "manager", "begin_offset_days": 1, "due_offset_days": 10, "weight": 2}
]', 'system'),
('warehouse', 1, 'Warehouse / operations role', 'Default onboarding for warehouse and operations roles: safety first.', '[
  {"id": "contract", "title": "Collect the signed contract and tax forms", "owner_type": "hire", "begin_offset_days": -10, "due_offset_days": -3, "weight": 2, "required_for_day1": true},
  {"id": "ppe", "title": "Order safety shoes and protective equipment", "owner_type": "facilities", "begin_offset_days": -10, "due_offset_days": -2, "weight": 2, "required_for_day1": true},
  {"id": "badge", "title": "Issue the site badge", "owner_type": "facilities", "begin_offset_days": -5, "due_offset_days": -1, "depends_on": ["contract"], "weight": 1, "required_for_day1": true},
  {"id": "scanner-account", "title": "Create the WMS and handheld-scanner login", "owner_type": "it", "begin_offset_days": -5, "due_offset_days": -1, "depends_on": ["contract"], "weight": 1, "required_for_day1": true},
  {"id": "safety-induction", "title": "Site safety induction", "owner_type": "manager", "begin_offset_days": 0, "due_offset_days": 0, "weight": 3},
  {"id": "shadowing", "title": "Shadow an experienced colleague for a week", "owner_type": "mentor", "begin_offset_days": 0, "due_offset_days": 7, "depends_on": ["safety-induction"], "weight": 2},
  {"id": "forklift", "title": "Forklift certification", "owner_type": "manager", "begin_offset_days": 7, "due_offset_days": 30, "depends_on": ["safety-induction"], "weight": 2, "optional": true},
  {"id": "policies", "title": "Acknowledge the site rules and shift policy", "owner_type": "hire", "begin_offset_days": 0, "due_offset_days": 3, "weight": 1}
]', 'system');

-- +goose Down
ALTER TABLE onboarding_templates DISABLE TRIGGER onboarding_templates_immutable;
DELETE FROM onboarding_templates WHERE version = 1 AND role IN ('office', 'warehouse') AND created_by = 'system';
ALTER TABLE onboarding_templates ENABLE TRIGGER onboarding_templates_immutable;
