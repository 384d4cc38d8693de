"""Virtual power plant over OpenADR 3: the VEN (client, service, webhook) and a test VTN (docs/vpp.md)."""
