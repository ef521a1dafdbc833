"""The customer-service chatbot on the messengers: what a shopper's message asks for, answers from the order data,
and inquiries handed to the mall."""
