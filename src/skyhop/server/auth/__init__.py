"""Who calls the API server (`principal`) and what they may do (`policy`)."""
