Feature: Watch module changes live
  A dashboard subscribes to /events and sees every change once it is durable, without polling.

  Scenario: Changes arrive as Server-Sent Events
    Given I am watching the event stream
    When I upload the "add" module as "calc"
    And I rename "calc" to "adder"
    And I delete "calc"
    Then I see the events "module.created, module.updated, module.deleted" for "calc"

  Scenario: Watching one module
    Given I have uploaded the "add" module as "calc"
    And I have uploaded the "add" module as "other"
    And I am watching the event stream of "calc"
    When I rename "other" to "other2"
    And I rename "calc" to "calc2"
    Then I see the events "module.updated" for "calc"
