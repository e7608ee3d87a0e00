-- An object's page shows its own audited events (an integration's refused
-- directory sign-ins, for example): look them up by target and action
-- without scanning the whole log.
CREATE INDEX audit_log_target ON audit_log (target, action, id);
