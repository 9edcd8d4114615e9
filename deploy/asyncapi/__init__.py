"""The partners' event catalogue: AsyncAPI 3 documents generated from proto/ (see __main__)."""
