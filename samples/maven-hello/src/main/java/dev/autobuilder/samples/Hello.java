package dev.autobuilder.samples;

public final class Hello {
    private Hello() {
    }

    public static String message() {
        return "Hello from maven-hello";
    }

    public static void main(String[] args) {
        System.out.println(message());
    }
}
