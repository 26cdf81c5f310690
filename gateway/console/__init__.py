"""The operator console: the admin site with two factors, roles, the audit log, the dashboard
and the "Needs attention" queue."""
