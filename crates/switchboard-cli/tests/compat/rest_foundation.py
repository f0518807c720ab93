"""Drives the engine's REST API with the official twilio-python client, unmodified.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
Exits non-zero (with a traceback) on the first failed check.
"""
import datetime
import os

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

URL = os.environ["SWITCHBOARD_URL"]


def client_for(username, password, account_sid=None):
    client = Client(username, password, account_sid)
    client.api.base_url = URL
    return client


def expect_error(code, status, action):
    try:
        action()
    except TwilioRestException as error:
        assert error.code == code, f"expected {code}, got {error.code}: {error.msg}"
        assert error.status == status, f"expected HTTP {status}, got {error.status}"
        return error
    raise AssertionError(f"expected TwilioRestException {code}")


main = client_for(os.environ["SID"], os.environ["TOKEN"])

# Numbers: create, fetch, update, list over several pages, delete.
created = [
    main.incoming_phone_numbers.create(phone_number=f"+1415555{n:04d}", voice_url="https://app.example/voice")
    for n in range(7)
]
first = created[0]
assert first.sid.startswith("PN") and first.phone_number == "+14155550000"
assert isinstance(first.date_created, datetime.datetime), first.date_created
assert first.capabilities["voice"] is True
fetched = main.incoming_phone_numbers(first.sid).fetch()
assert fetched.voice_url == "https://app.example/voice" and fetched.voice_method == "POST"
updated = main.incoming_phone_numbers(first.sid).update(
    voice_fallback_url="https://backup.example/voice", voice_fallback_method="GET", sms_url="https://app.example/sms"
)
assert updated.voice_fallback_url == "https://backup.example/voice" and updated.voice_fallback_method == "GET"
listed = main.incoming_phone_numbers.list(limit=7, page_size=3)
assert [n.phone_number for n in listed] == [f"+1415555{n:04d}" for n in range(7)], listed
assert len(main.incoming_phone_numbers.list(limit=5, page_size=2)) == 5
page = main.incoming_phone_numbers.page(page_size=3)
assert len(list(page)) == 3 and page.next_page() is not None
assert [n.sid for n in main.incoming_phone_numbers.list(phone_number="+14155550003")] == [created[3].sid]
assert len(main.incoming_phone_numbers.local.list()) == 7
toll_free = main.incoming_phone_numbers.toll_free.create(phone_number="+18885550100")
assert toll_free.phone_number == "+18885550100"
assert main.incoming_phone_numbers(created[6].sid).delete() is True
expect_error(20404, 404, lambda: main.incoming_phone_numbers(created[6].sid).fetch())

# Validation errors surface as TwilioRestException with Twilio's code and status.
expect_error(21421, 400, lambda: main.incoming_phone_numbers.create(phone_number="not-a-number"))
expect_error(21422, 400, lambda: main.incoming_phone_numbers.create(phone_number="+14155550001"))
expect_error(21402, 400, lambda: main.incoming_phone_numbers(first.sid).update(voice_url="nope"))
expect_error(21403, 400, lambda: main.incoming_phone_numbers(first.sid).update(voice_method="PATCH"))
expect_error(21405, 400, lambda: main.incoming_phone_numbers(first.sid).update(voice_url=""))
expect_error(21406, 400, lambda: main.incoming_phone_numbers(first.sid).update(sms_url="", sms_fallback_url="https://x.example/"))

# Applications.
app = main.applications.create(friendly_name="IVR", voice_url="https://ivr.example/start", sms_url="https://ivr.example/sms")
assert app.sid.startswith("AP") and app.voice_method == "POST"
assert main.applications(app.sid).update(friendly_name="IVR 2").friendly_name == "IVR 2"
assert [a.sid for a in main.applications.list(friendly_name="IVR 2")] == [app.sid]
linked = main.incoming_phone_numbers(created[1].sid).update(voice_application_sid=app.sid)
assert linked.voice_application_sid == app.sid
assert main.applications(app.sid).delete() is True
expect_error(20404, 404, lambda: main.applications(app.sid).fetch())

# Subaccounts: the parent acts on them, they see nothing of the parent or each other.
sub = main.api.accounts.create(friendly_name="Team A")
other = main.api.accounts.create(friendly_name="Team B")
assert sub.owner_account_sid == os.environ["SID"] and sub.status == "active"
parent_view = main.api.accounts(sub.sid).incoming_phone_numbers.create(phone_number="+14155559999")
assert parent_view.account_sid == sub.sid
sub_client = client_for(sub.sid, sub.auth_token)
assert [n.sid for n in sub_client.incoming_phone_numbers.list()] == [parent_view.sid]
assert [a.sid for a in sub_client.api.accounts.list()] == [sub.sid]
assert {a.sid for a in main.api.accounts.list()} == {os.environ["SID"], sub.sid, other.sid}
expect_error(20003, 401, lambda: sub_client.api.accounts(os.environ["SID"]).incoming_phone_numbers(first.sid).fetch())
expect_error(20003, 401, lambda: sub_client.api.accounts(other.sid).fetch())
# Only the parent changes a subaccount's status; a suspended subaccount is refused with 20005.
expect_error(20403, 403, lambda: sub_client.api.accounts(sub.sid).update(status="suspended"))
suspended = main.api.accounts(sub.sid).update(status="suspended")
assert suspended.status == "suspended"
# (A list answers errors with twilio-python's TwilioException "Unable to fetch page"; a
# fetch raises TwilioRestException with the code.)
refused = expect_error(20005, 401, lambda: sub_client.incoming_phone_numbers(parent_view.sid).fetch())
assert refused.msg.endswith("Account not active"), refused.msg
expect_error(20005, 401, lambda: main.api.accounts(sub.sid).incoming_phone_numbers(parent_view.sid).fetch())
assert main.api.accounts(sub.sid).fetch().status == "suspended"
assert main.api.accounts(sub.sid).update(status="active").status == "active"
assert [n.sid for n in sub_client.incoming_phone_numbers.list()] == [parent_view.sid]
main.api.accounts(sub.sid).update(status="suspended")

# API keys work as Basic auth through the helper library.
key = main.new_keys.create(friendly_name="ci")
key_client = client_for(key.sid, key.secret, os.environ["SID"])
assert len(key_client.incoming_phone_numbers.list()) == 7
assert [k.sid for k in main.keys.list()] == [key.sid]
main.keys(key.sid).delete()
expect_error(20003, 401, lambda: key_client.incoming_phone_numbers(first.sid).fetch())

# Bad credentials.
expect_error(20003, 401, lambda: client_for(os.environ["SID"], "wrong-token").incoming_phone_numbers(first.sid).fetch())
print("twilio-python REST foundation: all checks passed")
