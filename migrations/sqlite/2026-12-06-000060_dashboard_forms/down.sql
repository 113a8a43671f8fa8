DROP INDEX audit_events_organization_actor;
DROP INDEX audit_events_organization_action;
DROP TABLE form_submissions;
