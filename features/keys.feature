Feature: API keys
  Every request carries an API key. An admin hands out keys, each with a role, shown once and
  stored only as a hash, and can take any of them back: a revoked key stops working at once.

  Scenario: A developer key from creation to revocation
    When the admin creates a developer key "ci"
    Then the answer is 201
    And the answer holds the secret of "ci"
    When I use the key "ci"
    And I upload the "add" module as "calc"
    Then the answer is 201
    When I call "add" on "calc" with [2, 3]
    Then the results are [5]
    When I list the keys
    Then the answer is 200
    And the key "ci" is listed without its secret
    When I use the admin key
    And I revoke the key "ci"
    Then the answer is 204
    When I use the key "ci"
    And I list the modules
    Then the answer is 401
    And the error code is "UNAUTHORIZED"
    And the error message mentions "revoked"

  Scenario: A request without a key is refused
    When I send no key
    And I list the modules
    Then the answer is 401
    And the error code is "UNAUTHORIZED"

  Scenario: A runner key can run modules but not upload or delete them
    Given I have uploaded the "add" module as "calc"
    And the admin has created a runner key "app"
    When I use the key "app"
    And I call "add" on "calc" with [2, 3]
    Then the results are [5]
    When I upload the "add" module as "another"
    Then the answer is 403
    And the error code is "FORBIDDEN"
    When I delete "calc"
    Then the answer is 403
    And the error code is "FORBIDDEN"
