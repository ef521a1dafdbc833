"""Social login with Kakao, Naver and LINE: the OAuth 2.0 authorization code flow with PKCE, through Authlib.

1. :func:`start_login` draws a ``state`` (the CSRF and replay guard), a PKCE ``code_verifier`` and, for LINE's
   OpenID Connect, a ``nonce``; keeps them in Redis for ten minutes under the state; and builds the provider's
   authorize URL. Nothing rides in a cookie: the app's in-app browser need not share cookies with the app.
2. :func:`finish_login` spends the state exactly once (``GETDEL``) whatever happens next, exchanges the code
   with Authlib's ``AsyncOAuth2Client`` (client secret, redirect URI, code verifier), reads who logged in (Kakao
   and Naver: their user-info APIs; LINE: its ID token, verified here), then finds or creates the account and
   issues a Shoa session like a password login.

Choices the providers leave to us:

- PKCE goes to all three. Kakao and LINE check it; Naver documents no PKCE and ignores the parameters, so its
  protection rests on the single-use ``state``, which Naver's token endpoint also requires.
- An e-mail address links a social login to an existing account only when the provider vouches for it: Kakao
  says so per address (``is_email_valid`` and ``is_email_verified``); Naver and LINE have no such flag and hand
  out only the address the member confirmed with them, so theirs count as verified. An unverified address is
  not stored at all: it would squat on someone else's login name.
- An erased account never comes back: its identity rows are dropped and the person gets a fresh account, just
  as a new password signup after erasure does.
- Profile fields (gender, birth date, phone, display name, LINE id) fill only what the account lacks; nothing
  the provider did not give is guessed, and nothing the shopper set is overwritten.
"""
