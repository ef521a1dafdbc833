"""Win-back on the messengers: restock alerts the shopper asked for, price drops on what she liked, cart reminders;
lawful (marketing consent, quiet hours, caps), the same for every mall, and measured against a hold-out."""
