"""AvailablePhoneNumbers with the official twilio-python client, unmodified (issue 19 item 4):
search the default inventory by area code and pattern, buy what was offered, and see it
offered no more.

Run by crates/switchboard-cli/tests/it/compat.rs with SWITCHBOARD_URL, SID and TOKEN set.
"""
import os
import re

from twilio.base.exceptions import TwilioException
from twilio.rest import Client

client = Client(os.environ["SID"], os.environ["TOKEN"])
client.api.base_url = os.environ["SWITCHBOARD_URL"]

countries = client.available_phone_numbers.list()
assert [country.country_code for country in countries] == ["US"], countries
us = client.available_phone_numbers("US").fetch()
assert us.country == "United States" and us.country_code == "US"

local = client.available_phone_numbers("US").local.list(area_code=415, limit=5)
assert len(local) == 5, local
assert all(offer.phone_number.startswith("+1415555") for offer in local), local
assert local[0].capabilities["voice"] and local[0].iso_country == "US"

matching = client.available_phone_numbers("US").local.list(area_code=212, contains="5550*7", limit=20)
numbers = [offer.phone_number for offer in matching]
assert numbers and all(re.search(r"5550\d7", number) for number in numbers), numbers
assert all(number.startswith("+1212") for number in numbers), numbers

toll_free = client.available_phone_numbers("US").toll_free.list(area_code=888, limit=3)
assert [offer.phone_number[:5] for offer in toll_free] == ["+1888"] * 3, toll_free

bought = client.incoming_phone_numbers.create(phone_number=local[0].phone_number, voice_url="https://app.example/voice")
assert bought.phone_number == local[0].phone_number
again = client.available_phone_numbers("US").local.list(area_code=415, limit=5)
assert local[0].phone_number not in [offer.phone_number for offer in again], again
assert again[0].phone_number == local[1].phone_number

# The client reports a list page's error as TwilioException carrying the HTTP answer.
try:
    client.available_phone_numbers("US").local.list(area_code="41")
    raise AssertionError("a two-digit area code was accepted")
except TwilioException as error:
    assert "HTTP 400" in str(error) and '"code":20422' in str(error), error

try:
    client.available_phone_numbers("ZZ").local.list()
    raise AssertionError("a country without numbers answered")
except TwilioException as error:
    assert "HTTP 404" in str(error), error

print("all checks passed")
