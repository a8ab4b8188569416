using AutoBuilder.Core;

namespace AutoBuilder.Core.Tests;

/// <summary>Every validator anchors at both ends: in .NET '$' alone also matches before a final line feed.</summary>
public sealed class IdsTests
{
    public static TheoryData<string, string> Valid => new()
    {
        { "project", "abc" },
        { "user", "bob" },
        { "generated", "0123456789abcdef0123456789abcdef" },
        { "version", "1.0.0" },
        { "file", "x.tar.gz" },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Validators_ValueWithALineFeedOrControlCharacter_AreRefused(string kind, string value)
    {
        Assert.True(IsValid(kind, value), $"{kind} '{value}' should be valid");
        foreach (var bad in new[] { value + "\n", value + "\r\n", value + "\0", "\n" + value, value[..1] + "\t" + value[1..] })
        {
            Assert.False(IsValid(kind, bad), $"{kind} '{Printable.Of(bad)}' was accepted");
        }
    }

    [Fact]
    public void Printable_ControlAndBidiCharacters_AreEscapedAndLengthIsCapped()
    {
        Assert.Equal("1.0.0\\n", Printable.Of("1.0.0\n"));
        Assert.Equal("a\\0b\\u202Ec", Printable.Of("a\0b\u202Ec"));
        Assert.Equal("abc…", Printable.Of("abcdef", 3));
    }

    private static bool IsValid(string kind, string value) => kind switch
    {
        "project" => Ids.IsValidProjectId(value),
        "user" => Ids.IsValidUserName(value),
        "generated" => Ids.IsValidGeneratedId(value),
        "version" => Ids.IsValidVersion(value),
        "file" => Ids.IsValidFileName(value),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
