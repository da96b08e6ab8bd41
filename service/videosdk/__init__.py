"""VideoSDK: tokens, and meetings created and validated through the VideoSDK REST API."""
