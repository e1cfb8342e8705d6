"""The CRMs mqlsync syncs with, one folder each (hubspot/, salesforce/), holding
everything that CRM is: its client, readers, writer and setup, its retry policy and
error vocabulary, its mapping rules, its credentials and its sandbox. Each registers a
CrmKind under the `mqlsync.crms` entry-point group (see connector/registry.py)."""
