"""The admin API's shared parts: RFC 9457 problem details, pagination, throttling, schema."""
