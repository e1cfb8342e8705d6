"""Local emulators of the HubSpot and Salesforce API subsets mqlsync calls."""
