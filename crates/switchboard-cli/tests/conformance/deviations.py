"""Where this engine's conformance run reads Twilio's description differently, each with its reason.

Every deviation is a change to the description as published, applied before schemathesis reads
it; none loosens what a response body may contain.
"""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string"},
        "status": {"type": "integer"},
    },
}


def documented_errors(spec):
    """D1. Twilio's description documents only each operation's success status, while Twilio
    answers bad input, a missing resource and bad credentials with 4xx and its error JSON
    (`code`, `message`, `more_info`, `status`; twilio-behaviour.md §1). Each operation gets a
    `default` response with that schema, so an error is checked for its shape instead of being
    reported as undocumented; a 5xx is still a failure (not_a_server_error)."""
    for item in spec["paths"].values():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault(
                    "default",
                    {
                        "description": "Twilio's error JSON",
                        "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    },
                )
    return spec


def relative_uris(value):
    """D2. The description types `uri`, `first_page_uri`, `next_page_uri` and similar fields as
    `format: uri` (an absolute URI), but Twilio's own API returns them as paths relative to
    `https://api.twilio.com` (`/2010-04-01/Accounts/AC…/Calls.json`), which the official clients
    prepend their domain to; this engine answers as Twilio does. The format is read as
    `uri-reference`, which a path is and which an absolute URL also is."""
    if isinstance(value, dict):
        if value.get("format") == "uri":
            value["format"] = "uri-reference"
        for child in value.values():
            relative_uris(child)
    elif isinstance(value, list):
        for child in value:
            relative_uris(child)
    return value


def apply(spec):
    return relative_uris(documented_errors(spec))
