-- Who may read app_public.user_cards (the `User` type): a view, so it has no row-level security
-- of its own; its WHERE clause is the rule (see the migrations): signed-in users see every
-- person except those who blocked them (you still see the card of someone you blocked, to
-- manage your blocks), anonymous visitors those with a public profile. Read only.
revoke all on app_public.user_cards from anonymous, authenticated;
grant select on app_public.user_cards to anonymous, authenticated;
