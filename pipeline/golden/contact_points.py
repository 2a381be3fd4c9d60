"""Contact points: every e-mail and phone a customer has used, whichever record carried it: a record's own e-mail
and phone, and its further ones (staging.person_contacts: a CRM's email_pro, tel_fixe, tel_bureau mapped by the
sources file's `more_contacts`, or a JSON contact list's further elements).

A point is keyed the way identity matches it: an e-mail by its match key (case, '+tag' and Gmail dots do not
make a new mailbox), a phone by its E.164 number. `variants` lists the spellings seen; validity, first and
last seen (record dates), the sources and the number of records come from the staged records; consent per
channel comes from `golden.point_consent_state`: a point is contactable only through its own opt-in."""

from pipeline.sql import query

CONTACT_POINTS_SQL = query("golden_contact_points")  # pipeline/queries/golden_contact_points.sql
