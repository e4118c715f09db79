"""Who may do what: roles and the checks every admin action in ``model/`` makes.

- :mod:`~model.auth.access`: users and roles, :func:`~model.auth.access.require_admin`, the sign-in
  attempt limiter, the signed sign-in cookie and one-time tokens;
- :mod:`~model.auth.passwords`: the admin password's PBKDF2 hash (it goes into Streamlit secrets);
- :mod:`~model.auth.api_keys`: the JSON API's keys, stored as hashes.

The bottom of the operations: the store, the registry and the jobs check the caller here.
Nothing is re-exported; import the module you need.
"""
