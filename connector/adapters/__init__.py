"""Sources and sinks of canonical records: CRM adapters behind one port, and files."""
