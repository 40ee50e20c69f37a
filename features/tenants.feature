Feature: Tenants
  Keys belong to a tenant and see only its modules. Another tenant's module answers exactly as a
  missing one does, so a key cannot even learn that it exists. Admins see every tenant.

  Background:
    Given the admin has created a developer key "alice" for tenant "acme"
    And the admin has created a developer key "bob" for tenant "globex"
    And "alice" has uploaded the "add" module as "acme-calc"
    And "bob" has uploaded the "add" module as "globex-calc"

  Scenario: Another tenant's module cannot be seen, run, changed or deleted
    When I use the key "bob"
    And I fetch "acme-calc"
    Then the answer is 404
    And the error code is "MODULE_NOT_FOUND"
    When I download the content of "acme-calc"
    Then the answer is 404
    When I call "add" on "acme-calc" with [1, 2]
    Then the answer is 404
    And the error code is "MODULE_NOT_FOUND"
    When I replace "acme-calc" with the "single-export" module
    Then the answer is 404
    When I rename "acme-calc" to "mine now"
    Then the answer is 404
    When I delete "acme-calc"
    Then the answer is 404
    And the error code is "MODULE_NOT_FOUND"
    When I use the key "alice"
    And I fetch "acme-calc"
    Then the answer is 200
    And the module is named "acme-calc"
    And the module is at version 1
    When I call "add" on "acme-calc" with [1, 2]
    Then the results are [3]

  Scenario: Each tenant lists only its own modules; the admin sees both
    When I use the key "alice"
    And I list the modules
    Then the listed modules are "acme-calc"
    When I use the key "bob"
    And I list the modules
    Then the listed modules are "globex-calc"
    When I list the modules of tenant "acme"
    Then the answer is 403
    And the error code is "FORBIDDEN"
    When I use the admin key
    And I list the modules
    Then the listed modules are "acme-calc, globex-calc"
    When I list the modules of tenant "globex"
    Then the listed modules are "globex-calc"
