Feature: Delete a module

  Scenario: A deleted module is gone
    Given I have uploaded the "add" module as "calc"
    When I delete "calc"
    Then the answer is 204
    When I fetch "calc"
    Then the answer is 404
    And the error code is "MODULE_NOT_FOUND"
    When I call "add" on "calc" with [1, 2]
    Then the answer is 404

  Scenario: Deleting twice
    Given I have uploaded the "add" module as "calc"
    When I delete "calc"
    And I delete "calc"
    Then the answer is 404
